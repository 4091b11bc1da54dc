// generated-by: software-factory/infrablueprint (do not edit by hand; regenerate)
// traceId: 4bf92f3577b34da6a3ce929d0e0e4736
// blueprintVersion: 1.0.0+0d9048a69835
// contentHash: sha256:0d9048a698350709e9e4b9349a4b32a2db1e584e1316c33c1c944d58c002d487
targetScope = 'resourceGroup'

@description('Azure region; the first region of the blueprint by default')
param location string = 'westeurope'
@description('Container image to run')
param image string = 'factoryacr.azurecr.io/task-tracker/tasks:sha-588a0be9e155'

var tags = {
  blueprintVersion: '1.0.0+0d9048a69835'
  contentHash: 'sha256:0d9048a698350709e9e4b9349a4b32a2db1e584e1316c33c1c944d58c002d487'
  environment: 'dev'
  managedBy: 'software-factory'
  product: 'task-tracker'
  runtimeProfile: 'stateless'
  service: 'tasks'
  traceId: '4bf92f3577b34da6a3ce929d0e0e4736'
}

resource identity 'Microsoft.ManagedIdentity/userAssignedIdentities@2023-01-31' = {
  location: location
  name: 'id-tasks-dev'
  tags: tags
}

resource logs 'Microsoft.OperationalInsights/workspaces@2023-09-01' = {
  location: location
  name: 'log-tasks-dev'
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
  name: 'appi-tasks-dev'
  properties: {
    Application_Type: 'web'
    DisableLocalAuth: false
    WorkspaceResourceId: logs.id
  }
  tags: tags
}

resource appEnvironment 'Microsoft.App/managedEnvironments@2024-03-01' = {
  location: location
  name: 'cae-tasks-dev'
  properties: {
    appLogsConfiguration: {
      destination: 'azure-monitor'
    }
    zoneRedundant: false
  }
  tags: tags
}

resource TasksCosmos 'Microsoft.DocumentDB/databaseAccounts@2024-05-15' = {
  kind: 'GlobalDocumentDB'
  location: location
  name: 'tasks-cosmos-dev'
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
  tags: tags
}

resource TasksCosmosDb 'Microsoft.DocumentDB/databaseAccounts/sqlDatabases@2024-05-15' = {
  name: 'tasks'
  parent: TasksCosmos
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
  name: 'tasks'
  parent: TasksCosmosDb
  properties: {
    resource: {
      id: 'tasks'
      partitionKey: {
        kind: 'Hash'
        paths: [
          '/id'
        ]
      }
    }
  }
}

resource TasksCosmosDataRole 'Microsoft.DocumentDB/databaseAccounts/sqlRoleAssignments@2024-05-15' = {
  name: guid(TasksCosmos.id, identity.id, '00000000-0000-0000-0000-000000000002')
  parent: TasksCosmos
  properties: {
    principalId: identity.properties.principalId
    roleDefinitionId: '${TasksCosmos.id}/sqlRoleDefinitions/00000000-0000-0000-0000-000000000002'
    scope: TasksCosmos.id
  }
}

module app 'modules/container-app.bicep' = {
  name: 'app-tasks-dev'
  params: {
    allowInsecure: false
    cpu: '0.25'
    env: [
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
        name: 'TASKS_COSMOS_ENDPOINT'
        value: TasksCosmos.properties.documentEndpoint
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
    maxReplicas: 2
    memory: '0.5Gi'
    minReplicas: 1
    name: 'ca-tasks-dev'
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
