// generated-by: software-factory/infrablueprint (do not edit by hand; regenerate)
// traceId: 4bf92f3577b34da6a3ce929d0e0e4736
// blueprintVersion: 1.0.0+9192f3bd1189
// contentHash: sha256:9192f3bd1189925dab18f660e886b2dfbc22ec9013286e3015e5213eb4d7ef50
targetScope = 'resourceGroup'

@description('Azure region; the first region of the blueprint by default')
param location string = 'northeurope'
@description('Container image to run')
param image string = 'factoryacr.azurecr.io/catalogue/catalogue:sha-d1fce57ce5ef'
@description('Existing Service Bus namespace that holds the topic')
param serviceBusNamespace string = 'sb-catalogue-staging'

var tags = {
  blueprintVersion: '1.0.0+9192f3bd1189'
  contentHash: 'sha256:9192f3bd1189925dab18f660e886b2dfbc22ec9013286e3015e5213eb4d7ef50'
  environment: 'staging'
  managedBy: 'software-factory'
  product: 'catalogue'
  runtimeProfile: 'stateless'
  service: 'catalogue'
  traceId: '4bf92f3577b34da6a3ce929d0e0e4736'
}

resource identity 'Microsoft.ManagedIdentity/userAssignedIdentities@2023-01-31' = {
  location: location
  name: 'id-catalogue-staging'
  tags: tags
}

resource logs 'Microsoft.OperationalInsights/workspaces@2023-09-01' = {
  location: location
  name: 'log-catalogue-staging'
  properties: {
    retentionInDays: 30
    sku: {
      name: 'PerGB2018'
    }
  }
  tags: tags
}

resource insights 'Microsoft.Insights/components@2020-02-02' = {
  kind: 'web'
  location: location
  name: 'appi-catalogue-staging'
  properties: {
    Application_Type: 'web'
    DisableLocalAuth: false
    WorkspaceResourceId: logs.id
  }
  tags: tags
}

resource appEnvironment 'Microsoft.App/managedEnvironments@2024-03-01' = {
  location: location
  name: 'cae-catalogue-staging'
  properties: {
    appLogsConfiguration: {
      destination: 'azure-monitor'
    }
    zoneRedundant: false
  }
  tags: tags
}

resource CatalogueBlob 'Microsoft.Storage/storageAccounts@2023-05-01' = {
  kind: 'StorageV2'
  location: location
  name: 'catalogueblobstaging'
  properties: {
    allowBlobPublicAccess: false
    allowSharedKeyAccess: false
    minimumTlsVersion: 'TLS1_2'
    supportsHttpsTrafficOnly: true
  }
  sku: {
    name: 'Standard_LRS'
  }
  tags: tags
}

resource CatalogueBlobBlobs 'Microsoft.Storage/storageAccounts/blobServices@2023-05-01' = {
  name: 'default'
  parent: CatalogueBlob
}

resource CatalogueBlobAttachments 'Microsoft.Storage/storageAccounts/blobServices/containers@2023-05-01' = {
  name: 'attachments'
  parent: CatalogueBlobBlobs
  properties: {
    publicAccess: 'None'
  }
}

resource CatalogueBlobDataRole 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(CatalogueBlob.id, identity.id, 'ba92f5b4-2d11-453d-a403-e96b0029c9fe')
  properties: {
    principalId: identity.properties.principalId
    principalType: 'ServicePrincipal'
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', 'ba92f5b4-2d11-453d-a403-e96b0029c9fe')
  }
  scope: CatalogueBlob
}

resource CatalogueCosmos 'Microsoft.DocumentDB/databaseAccounts@2024-05-15' = {
  kind: 'GlobalDocumentDB'
  location: location
  name: 'catalogue-cosmos-staging'
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
        locationName: 'northeurope'
      }
    ]
    minimalTlsVersion: 'Tls12'
    publicNetworkAccess: 'Enabled'
  }
  tags: tags
}

resource CatalogueCosmosDb 'Microsoft.DocumentDB/databaseAccounts/sqlDatabases@2024-05-15' = {
  name: 'catalogue'
  parent: CatalogueCosmos
  properties: {
    options: {
      throughput: 400
    }
    resource: {
      id: 'catalogue'
    }
  }
}

resource CatalogueCosmosCategories 'Microsoft.DocumentDB/databaseAccounts/sqlDatabases/containers@2024-05-15' = {
  name: 'categories'
  parent: CatalogueCosmosDb
  properties: {
    resource: {
      id: 'categories'
      partitionKey: {
        kind: 'Hash'
        paths: [
          '/id'
        ]
      }
    }
  }
}

resource CatalogueCosmosProducts 'Microsoft.DocumentDB/databaseAccounts/sqlDatabases/containers@2024-05-15' = {
  name: 'products'
  parent: CatalogueCosmosDb
  properties: {
    resource: {
      id: 'products'
      partitionKey: {
        kind: 'Hash'
        paths: [
          '/id'
        ]
      }
    }
  }
}

resource CatalogueCosmosSuppliers 'Microsoft.DocumentDB/databaseAccounts/sqlDatabases/containers@2024-05-15' = {
  name: 'suppliers'
  parent: CatalogueCosmosDb
  properties: {
    resource: {
      id: 'suppliers'
      partitionKey: {
        kind: 'Hash'
        paths: [
          '/id'
        ]
      }
    }
  }
}

resource CatalogueCosmosDataRole 'Microsoft.DocumentDB/databaseAccounts/sqlRoleAssignments@2024-05-15' = {
  name: guid(CatalogueCosmos.id, identity.id, '00000000-0000-0000-0000-000000000002')
  parent: CatalogueCosmos
  properties: {
    principalId: identity.properties.principalId
    roleDefinitionId: '${CatalogueCosmos.id}/sqlRoleDefinitions/00000000-0000-0000-0000-000000000002'
    scope: CatalogueCosmos.id
  }
}

resource bus 'Microsoft.ServiceBus/namespaces@2022-10-01-preview' existing = {
  name: serviceBusNamespace
}

resource busSender 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(bus.id, identity.id, '69a216fc-b8fb-44d8-bc22-1f3c2cd27a39')
  properties: {
    principalId: identity.properties.principalId
    principalType: 'ServicePrincipal'
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', '69a216fc-b8fb-44d8-bc22-1f3c2cd27a39')
  }
  scope: bus
}

module app 'modules/container-app.bicep' = {
  name: 'app-catalogue-staging'
  params: {
    allowInsecure: false
    cpu: '0.5'
    env: [
      {
        name: 'APPLICATIONINSIGHTS_CONNECTION_STRING'
        value: insights.properties.ConnectionString
      }
      {
        name: 'APP_ENVIRONMENT'
        value: 'staging'
      }
      {
        name: 'AZURE_CLIENT_ID'
        value: identity.properties.clientId
      }
      {
        name: 'CATALOGUE_BLOB_ENDPOINT'
        value: CatalogueBlob.properties.primaryEndpoints.blob
      }
      {
        name: 'CATALOGUE_COSMOS_ENDPOINT'
        value: CatalogueCosmos.properties.documentEndpoint
      }
      {
        name: 'LOG_LEVEL'
        value: 'INFO'
      }
      {
        name: 'OTEL_SERVICE_NAME'
        value: 'catalogue'
      }
      {
        name: 'SERVICEBUS_NAMESPACE'
        value: '${serviceBusNamespace}.servicebus.windows.net'
      }
      {
        name: 'SERVICEBUS_TOPIC'
        value: 'factory-events'
      }
      {
        name: 'SERVICE_PACKAGE'
        value: 'catalogue'
      }
      {
        name: 'TENANCY_MODE'
        value: 'single'
      }
    ]
    environmentId: appEnvironment.id
    external: true
    identityId: identity.id
    image: image
    ingressEnabled: true
    location: location
    maxReplicas: 3
    memory: '1Gi'
    minReplicas: 1
    name: 'ca-catalogue-staging'
    probes: [
      {
        failureThreshold: 3
        httpGet: {
          path: '/health/live'
          port: 8080
        }
        initialDelaySeconds: 10
        periodSeconds: 15
        timeoutSeconds: 3
        type: 'Liveness'
      }
      {
        failureThreshold: 3
        httpGet: {
          path: '/health/ready'
          port: 8080
        }
        initialDelaySeconds: 5
        periodSeconds: 10
        timeoutSeconds: 2
        type: 'Readiness'
      }
      {
        failureThreshold: 10
        httpGet: {
          path: '/health/live'
          port: 8080
        }
        initialDelaySeconds: 0
        periodSeconds: 5
        timeoutSeconds: 2
        type: 'Startup'
      }
    ]
    scaleRules: [
      {
        http: {
          metadata: {
            concurrentRequests: '50'
          }
        }
        name: 'http'
      }
      {
        custom: {
          metadata: {
            type: 'Utilization'
            value: '70'
          }
          type: 'cpu'
        }
        name: 'cpu'
      }
    ]
    secrets: []
    tags: tags
    targetPort: 8080
  }
}

output identityClientId string = identity.properties.clientId
output appFqdn string = app.outputs.fqdn
