// Key Vault (RBAC mode) holding the key that signs events. The function app reads it through a
// Key Vault reference in its app settings, resolved with its user-assigned identity.

@description('Key Vault name (3-24 characters).')
@minLength(3)
@maxLength(24)
param name string

@description('Azure region.')
param location string

@description('Tags applied to the vault.')
param tags object = {}

@description('Principal id of the function app identity (granted Key Vault Secrets User).')
param principalId string

@description('Name of the secret holding the event-signing key.')
param signingKeySecretName string = 'factory-signing-key'

@secure()
@description('The event-signing key (HMAC). Stored only as a Key Vault secret.')
param signingKey string

@description('Principal (user) running azd: may read the signing key, so the next `azd up` passes the same key again (main.parameters.json: secretOrRandomPassword) instead of rotating it. Empty: no grant.')
param deployerPrincipalId string = ''

// Key Vault Secrets User
var secretsUserRoleId = '4633458b-17de-408a-b874-0445c86b69e6'

resource vault 'Microsoft.KeyVault/vaults@2023-07-01' = {
  name: name
  location: location
  tags: tags
  properties: {
    tenantId: subscription().tenantId
    sku: {
      family: 'A'
      name: 'standard'
    }
    enableRbacAuthorization: true
    enableSoftDelete: true
    softDeleteRetentionInDays: 7
  }
}

resource signingKeySecret 'Microsoft.KeyVault/vaults/secrets@2023-07-01' = {
  parent: vault
  name: signingKeySecretName
  properties: {
    value: signingKey
    contentType: 'text/plain'
  }
}

resource secretsUser 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(vault.id, principalId, secretsUserRoleId)
  scope: vault
  properties: {
    principalId: principalId
    principalType: 'ServicePrincipal'
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', secretsUserRoleId)
  }
}

resource deployerReadsSigningKey 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (!empty(deployerPrincipalId)) {
  name: guid(signingKeySecret.id, deployerPrincipalId, secretsUserRoleId)
  scope: signingKeySecret
  properties: {
    principalId: deployerPrincipalId
    principalType: 'User'
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', secretsUserRoleId)
  }
}

output name string = vault.name
// Versionless URI: the app picks up a rotated key without a redeploy.
output signingKeySecretUri string = signingKeySecret.properties.secretUri
