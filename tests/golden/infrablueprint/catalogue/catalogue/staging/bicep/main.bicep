// generated-by: software-factory/infrablueprint (do not edit by hand; regenerate)
// traceId: 4bf92f3577b34da6a3ce929d0e0e4736
// blueprintVersion: 1.0.0+3e352f6a94f9
// contentHash: sha256:3e352f6a94f94e90492d75ce673ce42d51d71fb0adc9d7905924f50c496c1972
// catalogue as a container on Azure Container Apps: the image is built from the generated
// Dockerfile (services/catalogue/Dockerfile), which runs the Functions host.
// Defaults: the intent did not state these, the generator chose them:
//   functions.maximumInstanceCount: 100, the Flex Consumption default
//   functions.instanceMemoryMb: 2048, the Flex Consumption default
targetScope = 'resourceGroup'

@description('Azure region; the first region of the intent')
param location string = 'northeurope'
@description('Container image to run')
param image string = 'factoryacr.azurecr.io/catalogue/catalogue:sha-f40a48d7e535'
@description('Existing Service Bus namespace of catalogue; it holds the catalogue-events topic')
param serviceBusNamespace string = 'sb-catalogue-staging'

var tags = {
  blueprintVersion: '1.0.0+3e352f6a94f9'
  contentHash: 'sha256:3e352f6a94f94e90492d75ce673ce42d51d71fb0adc9d7905924f50c496c1972'
  environment: 'staging'
  managedBy: 'software-factory'
  product: 'catalogue'
  runtimeProfile: 'stateless'
  service: 'catalogue'
  target: 'containers'
  traceId: '4bf92f3577b34da6a3ce929d0e0e4736'
}

resource identity 'Microsoft.ManagedIdentity/userAssignedIdentities@2023-01-31' = {
  name: 'id-catalogue-staging'
  location: location
  tags: tags
}

resource logs 'Microsoft.OperationalInsights/workspaces@2023-09-01' = {
  name: 'log-catalogue-staging'
  location: location
  tags: tags
  properties: {
    retentionInDays: 30
    sku: {
      name: 'PerGB2018'
    }
  }
}

resource insights 'Microsoft.Insights/components@2020-02-02' = {
  name: 'appi-catalogue-staging'
  location: location
  tags: tags
  kind: 'web'
  properties: {
    Application_Type: 'web'
    DisableLocalAuth: false
    WorkspaceResourceId: logs.id
  }
}

resource appEnvironment 'Microsoft.App/managedEnvironments@2024-03-01' = {
  name: 'cae-catalogue-staging'
  location: location
  tags: tags
  properties: {
    appLogsConfiguration: {
      destination: 'azure-monitor'
    }
    zoneRedundant: false
  }
}

resource CatalogueBlob 'Microsoft.Storage/storageAccounts@2023-05-01' = {
  name: 'catalogueblobstaging'
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

resource CatalogueBlobBlobs 'Microsoft.Storage/storageAccounts/blobServices@2023-05-01' = {
  parent: CatalogueBlob
  name: 'default'
}

resource CatalogueBlobAttachments 'Microsoft.Storage/storageAccounts/blobServices/containers@2023-05-01' = {
  parent: CatalogueBlobBlobs
  name: 'attachments'
  properties: {
    publicAccess: 'None'
  }
}

// Storage Blob Data Contributor for the service's identity
resource CatalogueBlobDataRole 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(CatalogueBlob.id, identity.id, 'ba92f5b4-2d11-453d-a403-e96b0029c9fe')
  scope: CatalogueBlob
  properties: {
    principalId: identity.properties.principalId
    principalType: 'ServicePrincipal'
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', 'ba92f5b4-2d11-453d-a403-e96b0029c9fe')
  }
}

resource CatalogueCosmos 'Microsoft.DocumentDB/databaseAccounts@2024-05-15' = {
  name: 'catalogue-cosmos-staging'
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
        locationName: 'northeurope'
      }
    ]
    minimalTlsVersion: 'Tls12'
    publicNetworkAccess: 'Enabled'
  }
}

resource CatalogueCosmosDb 'Microsoft.DocumentDB/databaseAccounts/sqlDatabases@2024-05-15' = {
  parent: CatalogueCosmos
  name: 'catalogue'
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
  parent: CatalogueCosmosDb
  name: 'categories'
  properties: {
    resource: {
      id: 'categories'
      partitionKey: {
        kind: 'Hash'
        paths: [
          '/tenantId'
        ]
      }
    }
  }
}

resource CatalogueCosmosProducts 'Microsoft.DocumentDB/databaseAccounts/sqlDatabases/containers@2024-05-15' = {
  parent: CatalogueCosmosDb
  name: 'products'
  properties: {
    resource: {
      id: 'products'
      partitionKey: {
        kind: 'Hash'
        paths: [
          '/tenantId'
        ]
      }
    }
  }
}

resource CatalogueCosmosSuppliers 'Microsoft.DocumentDB/databaseAccounts/sqlDatabases/containers@2024-05-15' = {
  parent: CatalogueCosmosDb
  name: 'suppliers'
  properties: {
    resource: {
      id: 'suppliers'
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
resource CatalogueCosmosDataRole 'Microsoft.DocumentDB/databaseAccounts/sqlRoleAssignments@2024-05-15' = {
  parent: CatalogueCosmos
  name: guid(CatalogueCosmos.id, identity.id, '00000000-0000-0000-0000-000000000002')
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
  scope: bus
  properties: {
    principalId: identity.properties.principalId
    principalType: 'ServicePrincipal'
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', '69a216fc-b8fb-44d8-bc22-1f3c2cd27a39')
  }
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
        name: 'AzureWebJobsStorage__credential'
        value: 'managedidentity'
      }
      {
        name: 'CATALOGUE_BLOB_ENDPOINT'
        value: 'https://catalogueblobstaging.blob.core.windows.net/'
      }
      {
        name: 'COSMOS_DATABASE'
        value: 'catalogue'
      }
      {
        name: 'COSMOS_ENDPOINT'
        value: CatalogueCosmos.properties.documentEndpoint
      }
      {
        name: 'EVENTS_TOPIC'
        value: 'catalogue-events'
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
        name: 'SERVICE_PACKAGE'
        value: 'catalogue'
      }
      {
        name: 'ServiceBusConnection__credential'
        value: 'managedidentity'
      }
      {
        name: 'ServiceBusConnection__fullyQualifiedNamespace'
        value: '${serviceBusNamespace}.servicebus.windows.net'
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
          path: '/api/health'
          port: 80
        }
        initialDelaySeconds: 10
        periodSeconds: 15
        timeoutSeconds: 3
        type: 'Liveness'
      }
      {
        failureThreshold: 3
        httpGet: {
          path: '/api/health'
          port: 80
        }
        initialDelaySeconds: 5
        periodSeconds: 10
        timeoutSeconds: 2
        type: 'Readiness'
      }
      {
        failureThreshold: 10
        httpGet: {
          path: '/api/health'
          port: 80
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
    targetPort: 80
  }
}

output identityClientId string = identity.properties.clientId
output appFqdn string = app.outputs.fqdn
