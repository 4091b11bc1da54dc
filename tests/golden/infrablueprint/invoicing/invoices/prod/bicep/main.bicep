// generated-by: software-factory/infrablueprint (do not edit by hand; regenerate)
// traceId: 4bf92f3577b34da6a3ce929d0e0e4736
// blueprintVersion: 1.0.0+c1c76ffa7a43
// contentHash: sha256:c1c76ffa7a43e51210732a3d422bbf600a81c4899e0a621f710df709141c52f0
targetScope = 'resourceGroup'

@description('Azure region; the first region of the blueprint by default')
param location string = 'westeurope'
@description('Container image to run')
param image string = 'factoryacr.azurecr.io/invoicing/invoices:sha-b552ad4c3f16'
@description('Existing Service Bus namespace that holds the topic')
param serviceBusNamespace string = 'sb-invoicing-prod'

var tags = {
  blueprintVersion: '1.0.0+c1c76ffa7a43'
  contentHash: 'sha256:c1c76ffa7a43e51210732a3d422bbf600a81c4899e0a621f710df709141c52f0'
  environment: 'prod'
  managedBy: 'software-factory'
  product: 'invoicing'
  runtimeProfile: 'stateless'
  service: 'invoices'
  traceId: '4bf92f3577b34da6a3ce929d0e0e4736'
}

resource identity 'Microsoft.ManagedIdentity/userAssignedIdentities@2023-01-31' = {
  location: location
  name: 'id-invoices-prod'
  tags: tags
}

resource logs 'Microsoft.OperationalInsights/workspaces@2023-09-01' = {
  location: location
  name: 'log-invoices-prod'
  properties: {
    retentionInDays: 90
    sku: {
      name: 'PerGB2018'
    }
  }
  tags: tags
}

resource insights 'Microsoft.Insights/components@2020-02-02' = {
  kind: 'web'
  location: location
  name: 'appi-invoices-prod'
  properties: {
    Application_Type: 'web'
    DisableLocalAuth: false
    WorkspaceResourceId: logs.id
  }
  tags: tags
}

resource appEnvironment 'Microsoft.App/managedEnvironments@2024-03-01' = {
  location: location
  name: 'cae-invoices-prod'
  properties: {
    appLogsConfiguration: {
      destination: 'azure-monitor'
    }
    zoneRedundant: true
  }
  tags: tags
}

resource InvoicesCosmos 'Microsoft.DocumentDB/databaseAccounts@2024-05-15' = {
  kind: 'GlobalDocumentDB'
  location: location
  name: 'invoices-cosmos-prod'
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
  tags: tags
}

resource InvoicesCosmosDb 'Microsoft.DocumentDB/databaseAccounts/sqlDatabases@2024-05-15' = {
  name: 'invoices'
  parent: InvoicesCosmos
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
  name: 'customers'
  parent: InvoicesCosmosDb
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
  name: 'invoicelines'
  parent: InvoicesCosmosDb
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
  name: 'invoices'
  parent: InvoicesCosmosDb
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

resource InvoicesCosmosDataRole 'Microsoft.DocumentDB/databaseAccounts/sqlRoleAssignments@2024-05-15' = {
  name: guid(InvoicesCosmos.id, identity.id, '00000000-0000-0000-0000-000000000002')
  parent: InvoicesCosmos
  properties: {
    principalId: identity.properties.principalId
    roleDefinitionId: '${InvoicesCosmos.id}/sqlRoleDefinitions/00000000-0000-0000-0000-000000000002'
    scope: InvoicesCosmos.id
  }
}

resource InvoicesSql 'Microsoft.Sql/servers@2023-08-01-preview' = {
  location: location
  name: 'invoices-sql-prod'
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
  tags: tags
}

resource InvoicesSqlDb 'Microsoft.Sql/servers/databases@2023-08-01-preview' = {
  location: location
  name: 'invoices'
  parent: InvoicesSql
  properties: {
    maxSizeBytes: 5368709120
    zoneRedundant: true
  }
  sku: {
    name: 'GP_S_Gen5_1'
    tier: 'GeneralPurpose'
  }
  tags: tags
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
        name: 'INVOICES_COSMOS_ENDPOINT'
        value: InvoicesCosmos.properties.documentEndpoint
      }
      {
        name: 'INVOICES_SQL_SERVER'
        value: InvoicesSql.properties.fullyQualifiedDomainName
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
        name: 'PAYMENT_PROVIDER_API_KEY'
        secretRef: 'payment-provider-api-key'
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
        value: 'invoices'
      }
      {
        name: 'TENANCY_MODE'
        value: 'multi'
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
    secrets: [
      {
        identity: identity.id
        keyVaultUrl: 'https://kv-invoicing-prod.vault.azure.net/secrets/payment-provider-api-key'
        name: 'payment-provider-api-key'
      }
    ]
    tags: tags
    targetPort: 8080
  }
}

output identityClientId string = identity.properties.clientId
output appFqdn string = app.outputs.fqdn
