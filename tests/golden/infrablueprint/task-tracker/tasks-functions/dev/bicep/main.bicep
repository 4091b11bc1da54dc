// generated-by: software-factory/infrablueprint (do not edit by hand; regenerate)
// traceId: 4bf92f3577b34da6a3ce929d0e0e4736
// blueprintVersion: 1.0.0+1556b7f09f41
// contentHash: sha256:1556b7f09f414473c7783c11c1b7508d844f9bc1abc154183f73d7080d2455b1
// tasks on Azure Functions Flex Consumption (FC1, Python 3.11): the generated service is a
// Functions app, so this is its default target. Everything it reaches, it reaches as its user-assigned
// managed identity: no key or connection string is in an app setting.
// Defaults: the intent did not state these, the generator chose them:
//   functions.maximumInstanceCount: 100, the Flex Consumption default
//   functions.instanceMemoryMb: 2048, the Flex Consumption default
targetScope = 'resourceGroup'

@description('Azure region; the first region of the intent')
param location string = 'westeurope'

var tags = {
  blueprintVersion: '1.0.0+1556b7f09f41'
  contentHash: 'sha256:1556b7f09f414473c7783c11c1b7508d844f9bc1abc154183f73d7080d2455b1'
  environment: 'dev'
  managedBy: 'software-factory'
  product: 'task-tracker'
  runtimeProfile: 'stateless'
  service: 'tasks'
  target: 'functions'
  traceId: '4bf92f3577b34da6a3ce929d0e0e4736'
}

resource identity 'Microsoft.ManagedIdentity/userAssignedIdentities@2023-01-31' = {
  name: 'id-tasks-dev'
  location: location
  tags: tags
}

resource logs 'Microsoft.OperationalInsights/workspaces@2023-09-01' = {
  name: 'log-tasks-dev'
  location: location
  tags: tags
  properties: {
    retentionInDays: 30
    sku: {
      name: 'PerGB2018'
    }
  }
}

// Application Insights: where the Functions host sends requests, traces and logs (identity-only ingestion)
resource insights 'Microsoft.Insights/components@2020-02-02' = {
  name: 'appi-tasks-dev'
  location: location
  tags: tags
  kind: 'web'
  properties: {
    Application_Type: 'web'
    DisableLocalAuth: true
    WorkspaceResourceId: logs.id
  }
}

resource insightsPublisher 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(insights.id, identity.id, '3913510d-42f4-4e42-8a64-420c390055eb')
  scope: insights
  properties: {
    principalId: identity.properties.principalId
    principalType: 'ServicePrincipal'
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', '3913510d-42f4-4e42-8a64-420c390055eb')
  }
}

// The host's storage and the deployment package container (shared-key access off)
resource hostStorage 'Microsoft.Storage/storageAccounts@2023-05-01' = {
  name: 'sttasksdev'
  location: location
  tags: tags
  kind: 'StorageV2'
  sku: {
    name: 'Standard_LRS'
  }
  properties: {
    allowBlobPublicAccess: false
    allowSharedKeyAccess: false
    minimumTlsVersion: 'TLS1_2'
    supportsHttpsTrafficOnly: true
  }
}

resource hostBlobs 'Microsoft.Storage/storageAccounts/blobServices@2023-05-01' = {
  parent: hostStorage
  name: 'default'
}

resource packages 'Microsoft.Storage/storageAccounts/blobServices/containers@2023-05-01' = {
  parent: hostBlobs
  name: 'app-package'
  properties: {
    publicAccess: 'None'
  }
}

resource hostStorageOwner 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(hostStorage.id, identity.id, 'b7e6dc6d-f1e8-4753-8033-0f276bb0955b')
  scope: hostStorage
  properties: {
    principalId: identity.properties.principalId
    principalType: 'ServicePrincipal'
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', 'b7e6dc6d-f1e8-4753-8033-0f276bb0955b')
  }
}

resource TasksCosmos 'Microsoft.DocumentDB/databaseAccounts@2024-05-15' = {
  name: 'tasks-cosmos-dev'
  location: location
  tags: tags
  kind: 'GlobalDocumentDB'
  properties: {
    consistencyPolicy: {
      defaultConsistencyLevel: 'Session'
    }
    databaseAccountOfferType: 'Standard'
    disableLocalAuth: true
    locations: [
      {
        failoverPriority: 0
        isZoneRedundant: false
        locationName: 'westeurope'
      }
    ]
    minimalTlsVersion: 'Tls12'
    publicNetworkAccess: 'Enabled'
  }
}

resource TasksCosmosDb 'Microsoft.DocumentDB/databaseAccounts/sqlDatabases@2024-05-15' = {
  parent: TasksCosmos
  name: 'tasks'
  properties: {
    options: {
      throughput: 400
    }
    resource: {
      id: 'tasks'
    }
  }
}

resource TasksCosmosTasks 'Microsoft.DocumentDB/databaseAccounts/sqlDatabases/containers@2024-05-15' = {
  parent: TasksCosmosDb
  name: 'tasks'
  properties: {
    resource: {
      id: 'tasks'
      partitionKey: {
        kind: 'Hash'
        paths: [
          '/tenantId'
        ]
      }
    }
  }
}

// Cosmos DB Built-in Data Contributor for the service's identity (data plane only, no keys)
resource TasksCosmosDataRole 'Microsoft.DocumentDB/databaseAccounts/sqlRoleAssignments@2024-05-15' = {
  parent: TasksCosmos
  name: guid(TasksCosmos.id, identity.id, '00000000-0000-0000-0000-000000000002')
  properties: {
    principalId: identity.properties.principalId
    roleDefinitionId: '${TasksCosmos.id}/sqlRoleDefinitions/00000000-0000-0000-0000-000000000002'
    scope: TasksCosmos.id
  }
}

resource plan 'Microsoft.Web/serverfarms@2024-04-01' = {
  name: 'plan-tasks-dev'
  location: location
  tags: tags
  kind: 'functionapp'
  sku: {
    name: 'FC1'
    tier: 'FlexConsumption'
  }
  properties: {
    reserved: true
  }
}

resource app 'Microsoft.Web/sites@2024-04-01' = {
  name: 'func-tasks-dev'
  location: location
  tags: tags
  kind: 'functionapp,linux'
  identity: {
    type: 'UserAssigned'
    userAssignedIdentities: {
      '${identity.id}': {}
    }
  }
  properties: {
    serverFarmId: plan.id
    httpsOnly: true
    keyVaultReferenceIdentity: identity.id
    functionAppConfig: {
      deployment: {
        storage: {
          type: 'blobContainer'
          value: '${hostStorage.properties.primaryEndpoints.blob}app-package'
          authentication: {
            type: 'UserAssignedIdentity'
            userAssignedIdentityResourceId: identity.id
          }
        }
      }
      runtime: {
        name: 'python'
        version: '3.11'
      }
      scaleAndConcurrency: {
        instanceMemoryMB: 2048
        maximumInstanceCount: 100
      }
    }
    siteConfig: {
      appSettings: [
        {
          name: 'APPLICATIONINSIGHTS_AUTHENTICATION_STRING'
          value: 'ClientId=${identity.properties.clientId};Authorization=AAD'
        }
        {
          name: 'APPLICATIONINSIGHTS_CONNECTION_STRING'
          value: insights.properties.ConnectionString
        }
        {
          name: 'APP_ENVIRONMENT'
          value: 'dev'
        }
        {
          name: 'AZURE_CLIENT_ID'
          value: identity.properties.clientId
        }
        {
          name: 'AzureWebJobsStorage__accountName'
          value: hostStorage.name
        }
        {
          name: 'AzureWebJobsStorage__clientId'
          value: identity.properties.clientId
        }
        {
          name: 'AzureWebJobsStorage__credential'
          value: 'managedidentity'
        }
        {
          name: 'COSMOS_DATABASE'
          value: 'tasks'
        }
        {
          name: 'COSMOS_ENDPOINT'
          value: TasksCosmos.properties.documentEndpoint
        }
        {
          name: 'LOG_LEVEL'
          value: 'DEBUG'
        }
        {
          name: 'OTEL_SERVICE_NAME'
          value: 'tasks'
        }
        {
          name: 'SERVICE_PACKAGE'
          value: 'tasks'
        }
        {
          name: 'TENANCY_MODE'
          value: 'single'
        }
      ]
      ftpsState: 'Disabled'
      minTlsVersion: '1.2'
    }
  }
}

output functionAppName string = app.name
output defaultHostName string = app.properties.defaultHostName
output identityClientId string = identity.properties.clientId
