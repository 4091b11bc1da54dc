// generated-by: software-factory/infrablueprint (do not edit by hand; regenerate)
// traceId: 4bf92f3577b34da6a3ce929d0e0e4736
// blueprintVersion: 1.0.0+2cc3d912569b
// contentHash: sha256:2cc3d912569b84b8104a8a8b531564434ea8fe748e3dd1b3f937c5b35efa38a0
targetScope = 'resourceGroup'

@description('Azure region; the first region of the blueprint by default')
param location string = 'westeurope'
@description('Container image to run')
param image string = 'factoryacr.azurecr.io/invoicing/invoice-reminders:sha-84fc16dc6bbc'
@description('Existing Service Bus namespace that holds the topic')
param serviceBusNamespace string = 'sb-invoicing-prod'

var tags = {
  blueprintVersion: '1.0.0+2cc3d912569b'
  contentHash: 'sha256:2cc3d912569b84b8104a8a8b531564434ea8fe748e3dd1b3f937c5b35efa38a0'
  environment: 'prod'
  managedBy: 'software-factory'
  product: 'invoicing'
  runtimeProfile: 'scheduled'
  service: 'invoice-reminders'
  traceId: '4bf92f3577b34da6a3ce929d0e0e4736'
}

resource identity 'Microsoft.ManagedIdentity/userAssignedIdentities@2023-01-31' = {
  location: location
  name: 'id-invoice-reminders-prod'
  tags: tags
}

resource logs 'Microsoft.OperationalInsights/workspaces@2023-09-01' = {
  location: location
  name: 'log-invoice-reminders-prod'
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
  name: 'appi-invoice-reminders-prod'
  properties: {
    Application_Type: 'web'
    DisableLocalAuth: false
    WorkspaceResourceId: logs.id
  }
  tags: tags
}

resource appEnvironment 'Microsoft.App/managedEnvironments@2024-03-01' = {
  location: location
  name: 'cae-invoice-reminders-prod'
  properties: {
    appLogsConfiguration: {
      destination: 'azure-monitor'
    }
    zoneRedundant: true
  }
  tags: tags
}

resource InvoiceRemindersCosmos 'Microsoft.DocumentDB/databaseAccounts@2024-05-15' = {
  kind: 'GlobalDocumentDB'
  location: location
  name: 'invoice-reminders-cosmos-prod'
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

resource InvoiceRemindersCosmosDb 'Microsoft.DocumentDB/databaseAccounts/sqlDatabases@2024-05-15' = {
  name: 'invoice_reminders'
  parent: InvoiceRemindersCosmos
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
  name: 'reminders'
  parent: InvoiceRemindersCosmosDb
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

resource InvoiceRemindersCosmosDataRole 'Microsoft.DocumentDB/databaseAccounts/sqlRoleAssignments@2024-05-15' = {
  name: guid(InvoiceRemindersCosmos.id, identity.id, '00000000-0000-0000-0000-000000000002')
  parent: InvoiceRemindersCosmos
  properties: {
    principalId: identity.properties.principalId
    roleDefinitionId: '${InvoiceRemindersCosmos.id}/sqlRoleDefinitions/00000000-0000-0000-0000-000000000002'
    scope: InvoiceRemindersCosmos.id
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
  name: 'app-invoice-reminders-prod'
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
        name: 'INVOICE_REMINDERS_COSMOS_ENDPOINT'
        value: InvoiceRemindersCosmos.properties.documentEndpoint
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
        name: 'SERVICEBUS_NAMESPACE'
        value: '${serviceBusNamespace}.servicebus.windows.net'
      }
      {
        name: 'SERVICEBUS_TOPIC'
        value: 'factory-events'
      }
      {
        name: 'SERVICE_PACKAGE'
        value: 'invoice_reminders'
      }
      {
        name: 'TENANCY_MODE'
        value: 'multi'
      }
    ]
    environmentId: appEnvironment.id
    external: false
    identityId: identity.id
    image: image
    ingressEnabled: false
    location: location
    maxReplicas: 3
    memory: '1Gi'
    minReplicas: 2
    name: 'ca-invoice-reminders-prod'
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
