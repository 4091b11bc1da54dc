// Optional: an Azure OpenAI account and one model deployment for the model-backed skills (README,
// "Model-backed skills"). Keyless: local auth is off, and the factory's identity calls the deployment
// with an Entra ID token as 'Cognitive Services OpenAI User' (inference only: no keys, no management).
// Nothing is deployed while `deploy` is false: the factory then runs its deterministic skills only.

@description('Account name; also its custom subdomain, which Entra ID authentication needs.')
param name string

@description('Azure region (the model and SKU must be offered there).')
param location string

@description('Tags applied to every resource.')
param tags object = {}

@description('Deploy the account and the model deployment (false: nothing is deployed).')
param deploy bool = false

@description('Model to deploy (format OpenAI).')
param modelName string = 'gpt-4o-mini'

@description('Model version.')
param modelVersion string = '2024-07-18'

@description('Deployment name: the app\'s FACTORY_MODEL_DEPLOYMENT and the key of its price table.')
param deploymentName string = 'gpt-4o-mini'

@description('Deployment SKU.')
@allowed([
  'GlobalStandard'
  'DataZoneStandard'
  'Standard'
])
param skuName string = 'GlobalStandard'

@description('Capacity in thousands of tokens per minute.')
@minValue(1)
param capacity int = 30

@description('Principal id of the factory identity: the one caller allowed to use the deployment.')
param principalId string

var openAIUserRoleId = '5e0bd9bd-7b93-4f28-af87-19fc36ad61bd'

resource account 'Microsoft.CognitiveServices/accounts@2024-10-01' = if (deploy) {
  name: name
  location: location
  tags: tags
  kind: 'OpenAI'
  sku: {
    name: 'S0'
  }
  properties: {
    customSubDomainName: name
    disableLocalAuth: true
    publicNetworkAccess: 'Enabled'
  }
}

resource modelDeployment 'Microsoft.CognitiveServices/accounts/deployments@2024-10-01' = if (deploy) {
  parent: account
  name: deploymentName
  sku: {
    name: skuName
    capacity: capacity
  }
  properties: {
    model: {
      format: 'OpenAI'
      name: modelName
      version: modelVersion
    }
    versionUpgradeOption: 'OnceNewDefaultVersionAvailable'
  }
}

resource openAIUser 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (deploy) {
  name: guid(account.id, principalId, openAIUserRoleId)
  scope: account
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', openAIUserRoleId)
    principalId: principalId
    principalType: 'ServicePrincipal'
  }
}

output endpoint string = deploy ? account.properties.endpoint : ''
output deploymentName string = deploy ? modelDeployment.name : ''
