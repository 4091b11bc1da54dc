// generated-by: software-factory/infrablueprint (do not edit by hand; regenerate)
// traceId: 4bf92f3577b34da6a3ce929d0e0e4736
// blueprintVersion: 1.0.0+e429e3b01968
// contentHash: sha256:e429e3b01968349e3838138c617475bf7accd5b6b029b67e8c5c33b19c788d14
@description('Container app name')
param name string
param location string
param tags object
param environmentId string
param identityId string
param image string
@description('Container environment variables: {name, value} or {name, secretRef}')
param env array
@description('Key Vault secret references: {name, keyVaultUrl, identity}')
param secrets array
param ingressEnabled bool
param external bool
param allowInsecure bool
param targetPort int
param minReplicas int
param maxReplicas int
param scaleRules array
param cpu string
param memory string
param probes array

resource app 'Microsoft.App/containerApps@2024-03-01' = {
  name: name
  location: location
  tags: tags
  identity: {
    type: 'UserAssigned'
    userAssignedIdentities: {
      '${identityId}': {}
    }
  }
  properties: {
    environmentId: environmentId
    configuration: {
      activeRevisionsMode: 'Single'
      ingress: ingressEnabled ? {
        allowInsecure: allowInsecure
        external: external
        targetPort: targetPort
        transport: 'auto'
      } : null
      secrets: secrets
    }
    template: {
      containers: [
        {
          env: env
          image: image
          name: name
          probes: probes
          resources: {
            cpu: json(cpu)
            memory: memory
          }
        }
      ]
      scale: {
        maxReplicas: maxReplicas
        minReplicas: minReplicas
        rules: scaleRules
      }
    }
  }
}

output fqdn string = ingressEnabled ? app.properties.configuration.ingress.fqdn : ''
output name string = app.name
