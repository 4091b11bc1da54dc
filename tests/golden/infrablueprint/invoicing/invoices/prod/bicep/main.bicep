// generated-by: software-factory/infrablueprint (do not edit by hand; regenerate)
// traceId: 4bf92f3577b34da6a3ce929d0e0e4736
// blueprintVersion: 1.0.0+e429e3b01968
// contentHash: sha256:e429e3b01968349e3838138c617475bf7accd5b6b029b67e8c5c33b19c788d14
// invoices as a container on Azure Container Apps: the image is built from the generated
// Dockerfile (services/invoices/Dockerfile), which runs the Functions host.
// Defaults: the intent did not state these, the generator chose them:
//   functions.maximumInstanceCount: 100, the Flex Consumption default
//   functions.instanceMemoryMb: 2048, the Flex Consumption default
targetScope = 'resourceGroup'

@description('Azure region; the first region of the intent')
param location string = 'westeurope'
@description('Container image to run')
param image string = 'factoryacr.azurecr.io/invoicing/invoices:sha-25789a4d2218'
@description('Existing Service Bus namespace of invoicing; it holds the invoicing-events topic')
param serviceBusNamespace string = 'sb-invoicing-prod'

var tags = {
  blueprintVersion: '1.0.0+e429e3b01968'
  contentHash: 'sha256:e429e3b01968349e3838138c617475bf7accd5b6b029b67e8c5c33b19c788d14'
  environment: 'prod'
  managedBy: 'software-factory'
  product: 'invoicing'
  runtimeProfile: 'stateless'
  service: 'invoices'
  target: 'containers'
  traceId: '4bf92f3577b34da6a3ce929d0e0e4736'
}

resource identity 'Microsoft.ManagedIdentity/userAssignedIdentities@2023-01-31' = {
  name: 'id-invoices-prod'
  location: location
  tags: tags
}

resource logs 'Microsoft.OperationalInsights/workspaces@2023-09-01' = {
  name: 'log-invoices-prod'
  location: location
  tags: tags
  properties: {
    retentionInDays: 90
    sku: {
      name: 'PerGB2018'
    }
  }
}

resource insights 'Microsoft.Insights/components@2020-02-02' = {
  name: 'appi-invoices-prod'
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
  name: 'cae-invoices-prod'
  location: location
  tags: tags
  properties: {
    appLogsConfiguration: {
      destination: 'azure-monitor'
    }
    zoneRedundant: true
  }
}

resource InvoicesCosmos 'Microsoft.DocumentDB/databaseAccounts@2024-05-15' = {
  name: 'invoices-cosmos-prod'
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

resource InvoicesCosmosDb 'Microsoft.DocumentDB/databaseAccounts/sqlDatabases@2024-05-15' = {
  parent: InvoicesCosmos
  name: 'invoices'
  properties: {
    options: {
      throughput: 400
    }
    resource: {
      id: 'invoices'
    }
  }
}

resource InvoicesCosmosCustomers 'Microsoft.DocumentDB/databaseAccounts/sqlDatabases/containers@2024-05-15' = {
  parent: InvoicesCosmosDb
  name: 'customers'
  properties: {
    resource: {
      id: 'customers'
      partitionKey: {
        kind: 'Hash'
        paths: [
          '/tenantId'
        ]
      }
    }
  }
}

resource InvoicesCosmosInvoicelines 'Microsoft.DocumentDB/databaseAccounts/sqlDatabases/containers@2024-05-15' = {
  parent: InvoicesCosmosDb
  name: 'invoicelines'
  properties: {
    resource: {
      id: 'invoicelines'
      partitionKey: {
        kind: 'Hash'
        paths: [
          '/tenantId'
        ]
      }
    }
  }
}

resource InvoicesCosmosInvoices 'Microsoft.DocumentDB/databaseAccounts/sqlDatabases/containers@2024-05-15' = {
  parent: InvoicesCosmosDb
  name: 'invoices'
  properties: {
    resource: {
      id: 'invoices'
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
resource InvoicesCosmosDataRole 'Microsoft.DocumentDB/databaseAccounts/sqlRoleAssignments@2024-05-15' = {
  parent: InvoicesCosmos
  name: guid(InvoicesCosmos.id, identity.id, '00000000-0000-0000-0000-000000000002')
  properties: {
    principalId: identity.properties.principalId
    roleDefinitionId: '${InvoicesCosmos.id}/sqlRoleDefinitions/00000000-0000-0000-0000-000000000002'
    scope: InvoicesCosmos.id
  }
}

resource InvoicesSql 'Microsoft.Sql/servers@2023-08-01-preview' = {
  name: 'invoices-sql-prod'
  location: location
  tags: tags
  properties: {
    administrators: {
      administratorType: 'ActiveDirectory'
      azureADOnlyAuthentication: true
      login: identity.name
      principalType: 'Application'
      sid: identity.properties.principalId
      tenantId: subscription().tenantId
    }
    minimalTlsVersion: '1.2'
    publicNetworkAccess: 'Enabled'
  }
}

resource InvoicesSqlDb 'Microsoft.Sql/servers/databases@2023-08-01-preview' = {
  parent: InvoicesSql
  name: 'invoices'
  location: location
  tags: tags
  sku: {
    name: 'GP_S_Gen5_1'
    tier: 'GeneralPurpose'
  }
  properties: {
    maxSizeBytes: 5368709120
    zoneRedundant: true
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
  name: 'app-invoices-prod'
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
        value: 'prod'
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
        name: 'COSMOS_DATABASE'
        value: 'invoices'
      }
      {
        name: 'COSMOS_ENDPOINT'
        value: InvoicesCosmos.properties.documentEndpoint
      }
      {
        name: 'EVENTS_TOPIC'
        value: 'invoicing-events'
      }
      {
        name: 'INVOICES_SQL_SERVER'
        value: 'invoices-sql-prod.database.windows.net'
      }
      {
        name: 'LOG_LEVEL'
        value: 'INFO'
      }
      {
        name: 'OTEL_SERVICE_NAME'
        value: 'invoices'
      }
      {
        name: 'SERVICE_PACKAGE'
        value: 'invoices'
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
        name: 'PAYMENT_PROVIDER_API_KEY'
        secretRef: 'payment-provider-api-key'
      }
    ]
    environmentId: appEnvironment.id
    external: true
    identityId: identity.id
    image: image
    ingressEnabled: true
    location: location
    maxReplicas: 5
    memory: '1Gi'
    minReplicas: 2
    name: 'ca-invoices-prod'
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
    secrets: [
      {
        identity: identity.id
        keyVaultUrl: 'https://kv-invoicing-prod.vault.azure.net/secrets/payment-provider-api-key'
        name: 'payment-provider-api-key'
      }
    ]
    tags: tags
    targetPort: 80
  }
}

output identityClientId string = identity.properties.clientId
output appFqdn string = app.outputs.fqdn
