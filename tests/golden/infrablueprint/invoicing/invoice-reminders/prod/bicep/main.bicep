// generated-by: software-factory/infrablueprint (do not edit by hand; regenerate)
// traceId: 4bf92f3577b34da6a3ce929d0e0e4736
// blueprintVersion: 1.0.0+5f93f18da087
// contentHash: sha256:5f93f18da0874e1f3d39ae9bc0a08033e9afd1438422105b97320824f9a1869c
// invoice-reminders on Azure Functions Flex Consumption (FC1, Python 3.11): the generated service is a
// Functions app, so this is its default target. Everything it reaches, it reaches as its user-assigned
// managed identity: no key or connection string is in an app setting.
// Defaults: the intent did not state these, the generator chose them:
//   functions.maximumInstanceCount: 100, the Flex Consumption default
//   functions.instanceMemoryMb: 2048, the Flex Consumption default
targetScope = 'resourceGroup'

@description('Azure region; the first region of the intent')
param location string = 'westeurope'
@description('Existing Service Bus namespace of invoicing; it holds the invoicing-events topic')
param serviceBusNamespace string = 'sb-invoicing-prod'
@description('Client id of the app registration callers sign in to (App Service Authentication checks their tokens)')
param authClientId string
@description('Token issuer: https://login.microsoftonline.com/<tenant-id>/v2.0, or organizations for many tenants')
param authIssuer string = 'https://login.microsoftonline.com/organizations/v2.0'

var tags = {
  blueprintVersion: '1.0.0+5f93f18da087'
  contentHash: 'sha256:5f93f18da0874e1f3d39ae9bc0a08033e9afd1438422105b97320824f9a1869c'
  environment: 'prod'
  managedBy: 'software-factory'
  product: 'invoicing'
  runtimeProfile: 'scheduled'
  service: 'invoice-reminders'
  target: 'functions'
  traceId: '4bf92f3577b34da6a3ce929d0e0e4736'
}

resource identity 'Microsoft.ManagedIdentity/userAssignedIdentities@2023-01-31' = {
  name: 'id-invoice-reminders-prod'
  location: location
  tags: tags
}

resource logs 'Microsoft.OperationalInsights/workspaces@2023-09-01' = {
  name: 'log-invoice-reminders-prod'
  location: location
  tags: tags
  properties: {
    retentionInDays: 90
    sku: {
      name: 'PerGB2018'
    }
  }
}

// Application Insights: where the Functions host sends requests, traces and logs (identity-only ingestion)
resource insights 'Microsoft.Insights/components@2020-02-02' = {
  name: 'appi-invoice-reminders-prod'
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
  name: 'stinvoiceremindersprod'
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

resource InvoiceRemindersCosmos 'Microsoft.DocumentDB/databaseAccounts@2024-05-15' = {
  name: 'invoice-reminders-cosmos-prod'
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
        isZoneRedundant: true
        locationName: 'westeurope'
      }
      {
        failoverPriority: 1
        isZoneRedundant: true
        locationName: 'northeurope'
      }
    ]
    minimalTlsVersion: 'Tls12'
    publicNetworkAccess: 'Enabled'
  }
}

resource InvoiceRemindersCosmosDb 'Microsoft.DocumentDB/databaseAccounts/sqlDatabases@2024-05-15' = {
  parent: InvoiceRemindersCosmos
  name: 'invoice_reminders'
  properties: {
    options: {
      throughput: 400
    }
    resource: {
      id: 'invoice_reminders'
    }
  }
}

resource InvoiceRemindersCosmosReminders 'Microsoft.DocumentDB/databaseAccounts/sqlDatabases/containers@2024-05-15' = {
  parent: InvoiceRemindersCosmosDb
  name: 'reminders'
  properties: {
    resource: {
      id: 'reminders'
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
resource InvoiceRemindersCosmosDataRole 'Microsoft.DocumentDB/databaseAccounts/sqlRoleAssignments@2024-05-15' = {
  parent: InvoiceRemindersCosmos
  name: guid(InvoiceRemindersCosmos.id, identity.id, '00000000-0000-0000-0000-000000000002')
  properties: {
    principalId: identity.properties.principalId
    roleDefinitionId: '${InvoiceRemindersCosmos.id}/sqlRoleDefinitions/00000000-0000-0000-0000-000000000002'
    scope: InvoiceRemindersCosmos.id
  }
}

// Domain events: the topic of invoicing (declared by each of its services; deployments are idempotent)
resource bus 'Microsoft.ServiceBus/namespaces@2022-10-01-preview' existing = {
  name: serviceBusNamespace
}

resource topic 'Microsoft.ServiceBus/namespaces/topics@2022-10-01-preview' = {
  parent: bus
  name: 'invoicing-events'
  properties: {
    defaultMessageTimeToLive: 'P14D'
  }
}

// Azure Service Bus Data Sender on the topic: the output binding publishes as the identity
resource topicSender 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(topic.id, identity.id, '69a216fc-b8fb-44d8-bc22-1f3c2cd27a39')
  scope: topic
  properties: {
    principalId: identity.properties.principalId
    principalType: 'ServicePrincipal'
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', '69a216fc-b8fb-44d8-bc22-1f3c2cd27a39')
  }
}

resource plan 'Microsoft.Web/serverfarms@2024-04-01' = {
  name: 'plan-invoice-reminders-prod'
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
  name: 'func-invoice-reminders-prod'
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
        alwaysReady: [
          {
            instanceCount: 1
            name: 'http'
          }
        ]
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
          value: 'prod'
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
          value: 'invoice_reminders'
        }
        {
          name: 'COSMOS_ENDPOINT'
          value: InvoiceRemindersCosmos.properties.documentEndpoint
        }
        {
          name: 'EVENTS_TOPIC'
          value: 'invoicing-events'
        }
        {
          name: 'LOG_LEVEL'
          value: 'INFO'
        }
        {
          name: 'OTEL_SERVICE_NAME'
          value: 'invoice-reminders'
        }
        {
          name: 'SERVICE_PACKAGE'
          value: 'invoice_reminders'
        }
        {
          name: 'ServiceBusConnection__clientId'
          value: identity.properties.clientId
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
          value: 'multi'
        }
        {
          name: 'TENANT_CLAIM'
          value: 'http://schemas.microsoft.com/identity/claims/tenantid'
        }
      ]
      ftpsState: 'Disabled'
      minTlsVersion: '1.2'
    }
  }
}

// App Service Authentication: every call but the health check needs a signed-in caller, whose tenant
// claim the service uses to keep each tenant's data apart
resource auth 'Microsoft.Web/sites/config@2024-04-01' = {
  parent: app
  name: 'authsettingsV2'
  properties: {
    globalValidation: {
      excludedPaths: [
        '/api/health'
      ]
      requireAuthentication: true
      unauthenticatedClientAction: 'Return401'
    }
    identityProviders: {
      azureActiveDirectory: {
        enabled: true
        registration: {
          clientId: authClientId
          openIdIssuer: authIssuer
        }
        validation: {
          allowedAudiences: [
            'api://${authClientId}'
          ]
        }
      }
    }
    platform: {
      enabled: true
    }
  }
}

output functionAppName string = app.name
output defaultHostName string = app.properties.defaultHostName
output identityClientId string = identity.properties.clientId
