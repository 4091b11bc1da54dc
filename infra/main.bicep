// The factory itself on Azure: Flex Consumption function app, Service Bus topic with one
// subscription per consumer (generated from contracts/), Cosmos DB, Blob storage, Key Vault,
// Application Insights. One user-assigned identity; no keys anywhere.
//
// Deploy: `azd up` (main.parameters.json has azd read the signing key from the environment's Key Vault,
// or generate one on the first deployment), or
//   az deployment group create -g <rg> -f infra/main.bicep -p environmentName=<name> \
//     -p eventSigningKey=<secret>
targetScope = 'resourceGroup'

@minLength(1)
@maxLength(64)
@description('Environment name (azd AZURE_ENV_NAME); seeds the resource names and the tags.')
param environmentName string

@description('Azure region for every resource.')
param location string = resourceGroup().location

@description('Memory per function app instance in MB (Flex Consumption).')
@allowed([
  512
  2048
  4096
])
param instanceMemoryMB int = 2048

@description('Upper bound of instances the function app scales out to (Flex Consumption).')
@minValue(1)
@maxValue(1000)
param maximumInstanceCount int = 100

@description('Service Bus tier; topics need Standard or Premium.')
@allowed([
  'Standard'
  'Premium'
])
param serviceBusSku string = 'Standard'

@secure()
@description('HMAC key that signs events. Stored only in Key Vault; the app reads it by reference.')
param eventSigningKey string

@description('Share of traces sent to Application Insights, 0 to 1 (whole traces are kept or dropped).')
param traceSamplingRatio string = '1.0'

@description('E-mail address the alert rules notify; empty: the alerts fire in the portal only.')
param alertEmail string = ''

@description('The user running azd (AZURE_PRINCIPAL_ID): may read the signing-key secret so redeploys keep the key.')
param deployerPrincipalId string = ''

@description('Test-runner image for the release gate\'s session pool (infra/test-runner/Dockerfile); empty: no pool, and the gate refuses to run generated tests.')
param testRunnerImage string = ''

@description('Registry server of a private test-runner image (pulled by the pool\'s own identity); empty for a public image.')
param testRunnerRegistryServer string = ''

@description('Deploy an Azure OpenAI account and model deployment for the model-backed skills (keyless); false: deterministic skills only.')
param deployOpenAI bool = false

@description('Model the Azure OpenAI deployment serves (deployOpenAI).')
param openAIModelName string = 'gpt-4o-mini'

@description('Version of that model.')
param openAIModelVersion string = '2024-07-18'

@description('Capacity of the model deployment in thousands of tokens per minute.')
@minValue(1)
param openAICapacity int = 30

var resourceToken = toLower(uniqueString(subscription().id, resourceGroup().id, environmentName))
var tags = {
  'azd-env-name': environmentName
  application: 'software-factory'
}
var topicName = 'factory-events'
var functionAppName = 'func-factory-${resourceToken}'

module identity 'modules/identity.bicep' = {
  name: 'identity'
  params: {
    name: 'id-factory-${resourceToken}'
    location: location
    tags: tags
  }
}

module monitoring 'modules/monitoring.bicep' = {
  name: 'monitoring'
  params: {
    logAnalyticsName: 'log-factory-${resourceToken}'
    applicationInsightsName: 'appi-factory-${resourceToken}'
    location: location
    tags: tags
    principalId: identity.outputs.principalId
  }
}

module storage 'modules/storage.bicep' = {
  name: 'storage'
  params: {
    name: take('stfactory${resourceToken}', 24)
    location: location
    tags: tags
    artifactsContainerName: 'artifacts'
    deploymentContainerName: 'app-package-${take(functionAppName, 32)}'
    principalId: identity.outputs.principalId
  }
}

module serviceBus 'modules/servicebus.bicep' = {
  name: 'servicebus'
  params: {
    name: 'sb-factory-${resourceToken}'
    location: location
    tags: tags
    sku: serviceBusSku
    topicName: topicName
    principalId: identity.outputs.principalId
  }
}

module messaging 'generated/messaging.bicep' = {
  name: 'messaging'
  params: {
    namespaceName: serviceBus.outputs.namespaceName
    topicName: serviceBus.outputs.topicName
  }
}

module cosmos 'modules/cosmos.bicep' = {
  name: 'cosmos'
  params: {
    name: 'cosmos-factory-${resourceToken}'
    location: location
    tags: tags
    databaseName: 'factory'
    principalId: identity.outputs.principalId
  }
}

module keyVault 'modules/keyvault.bicep' = {
  name: 'keyvault'
  params: {
    name: take('kv-factory-${resourceToken}', 24)
    location: location
    tags: tags
    principalId: identity.outputs.principalId
    signingKey: eventSigningKey
    deployerPrincipalId: deployerPrincipalId
  }
}

module testSessions 'modules/testsessions.bicep' = {
  name: 'testsessions'
  params: {
    name: 'sessions-factory-${resourceToken}'
    environmentName: 'cae-factory-${resourceToken}'
    pullIdentityName: 'id-sessions-${resourceToken}'
    location: location
    tags: tags
    image: testRunnerImage
    registryServer: testRunnerRegistryServer
    principalId: identity.outputs.principalId
  }
}

module openAI 'modules/openai.bicep' = {
  name: 'openai'
  params: {
    name: 'oai-factory-${resourceToken}'
    location: location
    tags: tags
    deploy: deployOpenAI
    modelName: openAIModelName
    modelVersion: openAIModelVersion
    deploymentName: openAIModelName
    capacity: openAICapacity
    principalId: identity.outputs.principalId
  }
}

module functionApp 'modules/functionapp.bicep' = {
  name: 'functionapp'
  params: {
    name: functionAppName
    planName: 'plan-factory-${resourceToken}'
    location: location
    tags: tags
    identityId: identity.outputs.id
    identityClientId: identity.outputs.clientId
    instanceMemoryMB: instanceMemoryMB
    maximumInstanceCount: maximumInstanceCount
    storageAccountName: storage.outputs.name
    blobEndpoint: storage.outputs.blobEndpoint
    deploymentContainerName: storage.outputs.deploymentContainerName
    serviceBusFullyQualifiedNamespace: serviceBus.outputs.fullyQualifiedNamespace
    topicName: serviceBus.outputs.topicName
    cosmosEndpoint: cosmos.outputs.endpoint
    cosmosDatabaseName: cosmos.outputs.databaseName
    artifactsContainerName: storage.outputs.artifactsContainerName
    applicationInsightsConnectionString: monitoring.outputs.applicationInsightsConnectionString
    signingKeySecretUri: keyVault.outputs.signingKeySecretUri
    traceSamplingRatio: traceSamplingRatio
    testSessionsEndpoint: testSessions.outputs.poolManagementEndpoint
    modelEndpoint: openAI.outputs.endpoint
    modelDeployment: openAI.outputs.deploymentName
  }
}

module alerts 'modules/alerts.bicep' = {
  name: 'alerts'
  params: {
    location: location
    tags: tags
    applicationInsightsName: monitoring.outputs.applicationInsightsName
    serviceBusNamespaceName: serviceBus.outputs.namespaceName
    alertEmail: alertEmail
  }
}

// azd writes these into the environment; scripts/smoke_azure.py and `func` read them.
output AZURE_LOCATION string = location
output AZURE_FUNCTION_APP_NAME string = functionApp.outputs.name
output AZURE_FUNCTION_APP_URL string = 'https://${functionApp.outputs.defaultHostName}'
output AZURE_CLIENT_ID string = identity.outputs.clientId
output AZURE_KEY_VAULT_NAME string = keyVault.outputs.name
output ServiceBusConnection__fullyQualifiedNamespace string = serviceBus.outputs.fullyQualifiedNamespace
output CosmosConnection__accountEndpoint string = cosmos.outputs.endpoint
output ArtifactStorage__blobServiceUri string = storage.outputs.blobEndpoint
output FACTORY_TOPIC string = serviceBus.outputs.topicName
output FACTORY_COSMOS_DATABASE string = cosmos.outputs.databaseName
output SERVICEBUS_SUBSCRIPTIONS array = messaging.outputs.subscriptionNames
output FACTORY_TEST_SESSIONS_ENDPOINT string = testSessions.outputs.poolManagementEndpoint
output FACTORY_MODEL_ENDPOINT string = openAI.outputs.endpoint
output FACTORY_MODEL_DEPLOYMENT string = openAI.outputs.deploymentName
