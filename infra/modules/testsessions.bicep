// Where the release gate runs generated (untrusted) tests on Azure, where a Functions app cannot
// create namespaces: an Azure Container Apps dynamic session pool with a custom container (the
// factory's test-runner image, infra/test-runner/Dockerfile). Each run gets its own session: a
// Hyper-V sandbox with outbound network disabled, ended when its container exits after the run.
// The factory's identity may call the pool (Azure ContainerApps Session Executor) and nothing
// else here; the image is pulled with a separate identity that sessions never see.
// Nothing is deployed while `image` is empty: the app then refuses to run tests and says why.

@description('Session pool name.')
param name string

@description('Container Apps environment name (workload profiles: custom container pools need one).')
param environmentName string

@description('Name of the identity that pulls the image (grant it AcrPull on a private registry).')
param pullIdentityName string

@description('Azure region.')
param location string

@description('Tags applied to every resource.')
param tags object = {}

@description('Test-runner image, e.g. <registry>.azurecr.io/factory-test-runner:<tag>; empty deploys nothing.')
param image string = ''

@description('Registry server of a private image (pulled with the pull identity); empty for a public image.')
param registryServer string = ''

@description('Principal id of the factory identity: the one caller allowed to run sessions.')
param principalId string

@description('Sessions that may run at once (one per release-gate run).')
@minValue(1)
@maxValue(600)
param maxConcurrentSessions int = 10

@description('Warm sessions kept ready.')
@minValue(0)
param readySessionInstances int = 1

@description('Upper bound of a session lifetime in seconds, even if a run never ends.')
param maxAlivePeriodInSeconds int = 1800

var deploy = !empty(image)
var sessionExecutorRoleId = '0fb8eba5-a2bb-4abe-b1c1-49dfad359bb0'

resource pullIdentity 'Microsoft.ManagedIdentity/userAssignedIdentities@2023-01-31' = if (deploy) {
  name: pullIdentityName
  location: location
  tags: tags
}

resource environment 'Microsoft.App/managedEnvironments@2024-03-01' = if (deploy) {
  name: environmentName
  location: location
  tags: tags
  properties: {
    workloadProfiles: [
      {
        name: 'Consumption'
        workloadProfileType: 'Consumption'
      }
    ]
  }
}

// 2025-02-02-preview: the version whose documented example has lifecycleType OnContainerExit
resource pool 'Microsoft.App/sessionPools@2025-02-02-preview' = if (deploy) {
  name: name
  location: location
  tags: tags
  identity: {
    type: 'UserAssigned'
    userAssignedIdentities: {
      '${pullIdentity.id}': {}
    }
  }
  properties: {
    environmentId: environment.id
    poolManagementType: 'Dynamic'
    containerType: 'CustomContainer'
    scaleConfiguration: {
      maxConcurrentSessions: maxConcurrentSessions
      readySessionInstances: readySessionInstances
    }
    dynamicPoolConfiguration: {
      lifecycleConfiguration: {
        lifecycleType: 'OnContainerExit'
        maxAlivePeriodInSeconds: maxAlivePeriodInSeconds
      }
    }
    sessionNetworkConfiguration: {
      status: 'EgressDisabled'
    }
    customContainerTemplate: {
      containers: [
        {
          name: 'test-runner'
          image: image
          resources: {
            cpu: 1
            memory: '2Gi'
          }
        }
      ]
      ingress: {
        targetPort: 8080
      }
      registryCredentials: empty(registryServer) ? null : {
        server: registryServer
        identity: pullIdentity.id
      }
    }
    managedIdentitySettings: [
      {
        identity: pullIdentity.id
        lifecycle: 'None'
      }
    ]
  }
}

resource sessionExecutor 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (deploy) {
  name: guid(pool.id, principalId, sessionExecutorRoleId)
  scope: pool
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', sessionExecutorRoleId)
    principalId: principalId
    principalType: 'ServicePrincipal'
  }
}

output poolManagementEndpoint string = deploy ? pool.properties.poolManagementEndpoint : ''
output pullIdentityPrincipalId string = deploy ? pullIdentity.properties.principalId : ''
