// generated-by: software-factory/infrablueprint (do not edit by hand; regenerate)
// traceId: 4bf92f3577b34da6a3ce929d0e0e4736
// blueprintVersion: 1.0.0+146a4ee00130
// contentHash: sha256:146a4ee001307744d919e2140ac488f8999458851672d67f4531f7f347bad2fc
// tasks as a container on Azure Container Apps: the image is built from the generated
// Dockerfile (services/tasks/Dockerfile), which runs the Functions host.
// Defaults: the intent did not state these, the generator chose them:
//   functions.maximumInstanceCount: 100, the Flex Consumption default
//   functions.instanceMemoryMb: 2048, the Flex Consumption default
targetScope = 'resourceGroup'

@description('Azure region; the first region of the intent')
param location string = 'westeurope'
@description('Container image to run')
param image string = 'factoryacr.azurecr.io/task-tracker/tasks:sha-7180128cbc97'

var tags = {
  blueprintVersion: '1.0.0+146a4ee00130'
  contentHash: 'sha256:146a4ee001307744d919e2140ac488f8999458851672d67f4531f7f347bad2fc'
  environment: 'dev'
  managedBy: 'software-factory'
  product: 'task-tracker'
  runtimeProfile: 'stateless'
  service: 'tasks'
  target: 'containers'
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

resource insights 'Microsoft.Insights/components@2020-02-02' = {
  name: 'appi-tasks-dev'
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
  name: 'cae-tasks-dev'
  location: location
  tags: tags
  properties: {
    appLogsConfiguration: {
      destination: 'azure-monitor'
    }
    zoneRedundant: false
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
