// Cosmos DB (NoSQL API, serverless) for flow state, inbox/outbox and the event log. Keys are
// disabled: the function app identity gets the built-in Data Contributor role instead.

@description('Cosmos DB account name.')
param name string

@description('Azure region.')
param location string

@description('Tags applied to the account.')
param tags object = {}

@description('Database the state adapters use.')
param databaseName string = 'factory'

@description('Principal id of the function app identity (granted Cosmos DB Built-in Data Contributor).')
param principalId string

// Containers and partition keys as in shared/storage_layout.py (a test keeps them equal).
// defaultTtl -1: TTL on, documents expire only when they carry their own ttl.
var containers = [
  {
    name: 'state'
    partitionKey: '/partition'
    defaultTtl: -1
  }
  {
    name: 'events'
    partitionKey: '/traceId'
    defaultTtl: -1
  }
]

// Cosmos DB Built-in Data Contributor (data plane role, not Azure RBAC)
var dataContributorRoleId = '00000000-0000-0000-0000-000000000002'

resource account 'Microsoft.DocumentDB/databaseAccounts@2024-11-15' = {
  name: name
  location: location
  tags: tags
  kind: 'GlobalDocumentDB'
  properties: {
    databaseAccountOfferType: 'Standard'
    locations: [
      {
        locationName: location
        failoverPriority: 0
        isZoneRedundant: false
      }
    ]
    capabilities: [
      {
        name: 'EnableServerless'
      }
    ]
    consistencyPolicy: {
      defaultConsistencyLevel: 'Session'
    }
    disableLocalAuth: true
    disableKeyBasedMetadataWriteAccess: true
    minimalTlsVersion: 'Tls12'
  }
}

resource database 'Microsoft.DocumentDB/databaseAccounts/sqlDatabases@2024-11-15' = {
  parent: account
  name: databaseName
  properties: {
    resource: {
      id: databaseName
    }
  }
}

resource sqlContainers 'Microsoft.DocumentDB/databaseAccounts/sqlDatabases/containers@2024-11-15' = [for c in containers: {
  parent: database
  name: c.name
  properties: {
    resource: {
      id: c.name
      partitionKey: {
        paths: [
          c.partitionKey
        ]
        kind: 'Hash'
        version: 2
      }
      defaultTtl: c.defaultTtl
    }
  }
}]

resource dataContributor 'Microsoft.DocumentDB/databaseAccounts/sqlRoleAssignments@2024-11-15' = {
  parent: account
  name: guid(account.id, principalId, dataContributorRoleId)
  properties: {
    principalId: principalId
    roleDefinitionId: '${account.id}/sqlRoleDefinitions/${dataContributorRoleId}'
    scope: account.id
  }
}

output name string = account.name
output endpoint string = account.properties.documentEndpoint
output databaseName string = database.name
