// The factory's function app on the Flex Consumption plan (FC1), running as the user-assigned
// identity. Every connection is identity-based: no key or connection string is in an app setting.

@description('Function app name.')
param name string

@description('Flex Consumption plan name.')
param planName string

@description('Azure region.')
param location string

@description('Tags applied to the plan and the app (the app also gets the azd service tag).')
param tags object = {}

@description('Resource id of the user-assigned identity the app runs as.')
param identityId string

@description('Client id of that identity (for identity-based connections and DefaultAzureCredential).')
param identityClientId string

@description('Memory per instance in MB.')
@allowed([
  512
  2048
  4096
])
param instanceMemoryMB int = 2048

@description('Upper bound of instances Flex Consumption scales out to.')
@minValue(1)
@maxValue(1000)
param maximumInstanceCount int = 100

@description('Python version of the Flex Consumption runtime.')
param pythonVersion string = '3.11'

@description('Storage account used by the host (AzureWebJobsStorage).')
param storageAccountName string

@description('Blob endpoint of that account, with trailing slash.')
param blobEndpoint string

@description('Blob container the app package is deployed into.')
param deploymentContainerName string

@description('Service Bus namespace host name, e.g. sb-x.servicebus.windows.net.')
param serviceBusFullyQualifiedNamespace string

@description('Topic the factory publishes to and its subscriptions read from.')
param topicName string

@description('Cosmos DB account endpoint.')
param cosmosEndpoint string

@description('Cosmos DB database name.')
param cosmosDatabaseName string

@description('Blob container for artifacts.')
param artifactsContainerName string

@description('Application Insights connection string (no key can ingest: local auth is disabled).')
param applicationInsightsConnectionString string

@description('Versionless Key Vault secret URI of the event-signing key.')
param signingKeySecretUri string

@description('Share of traces sent to Application Insights, 0 to 1 (whole traces are kept or dropped).')
param traceSamplingRatio string = '1.0'

@description('Pool management endpoint of the session pool that runs generated tests (empty: none deployed).')
param testSessionsEndpoint string = ''

@description('Azure OpenAI endpoint for the model-backed skills (empty: none deployed, deterministic skills only).')
param modelEndpoint string = ''

@description('Azure OpenAI deployment name the model-backed skills call.')
param modelDeployment string = ''

@description('Azure OpenAI API version (structured outputs need 2024-08-01-preview or later).')
param modelApiVersion string = '2024-10-21'

resource plan 'Microsoft.Web/serverfarms@2024-04-01' = {
  name: planName
  location: location
  tags: tags
  kind: 'functionapp'
  sku: {
    name: 'FC1'
    tier: 'FlexConsumption'
  }
  properties: {
    reserved: true
  }
}

resource app 'Microsoft.Web/sites@2024-04-01' = {
  name: name
  location: location
  tags: union(tags, {
    'azd-service-name': 'factory'
  })
  kind: 'functionapp,linux'
  identity: {
    type: 'UserAssigned'
    userAssignedIdentities: {
      '${identityId}': {}
    }
  }
  properties: {
    serverFarmId: plan.id
    httpsOnly: true
    keyVaultReferenceIdentity: identityId
    functionAppConfig: {
      deployment: {
        storage: {
          type: 'blobContainer'
          value: '${blobEndpoint}${deploymentContainerName}'
          authentication: {
            type: 'UserAssignedIdentity'
            userAssignedIdentityResourceId: identityId
          }
        }
      }
      scaleAndConcurrency: {
        instanceMemoryMB: instanceMemoryMB
        maximumInstanceCount: maximumInstanceCount
      }
      runtime: {
        name: 'python'
        version: pythonVersion
      }
    }
    siteConfig: {
      minTlsVersion: '1.2'
      ftpsState: 'Disabled'
      appSettings: [
        {
          name: 'AzureWebJobsStorage__accountName'
          value: storageAccountName
        }
        {
          name: 'AzureWebJobsStorage__credential'
          value: 'managedidentity'
        }
        {
          name: 'AzureWebJobsStorage__clientId'
          value: identityClientId
        }
        {
          name: 'ServiceBusConnection__fullyQualifiedNamespace'
          value: serviceBusFullyQualifiedNamespace
        }
        {
          name: 'ServiceBusConnection__credential'
          value: 'managedidentity'
        }
        {
          name: 'ServiceBusConnection__clientId'
          value: identityClientId
        }
        {
          name: 'CosmosConnection__accountEndpoint'
          value: cosmosEndpoint
        }
        {
          name: 'ArtifactStorage__blobServiceUri'
          value: blobEndpoint
        }
        {
          name: 'AZURE_CLIENT_ID'
          value: identityClientId
        }
        {
          name: 'APPLICATIONINSIGHTS_CONNECTION_STRING'
          value: applicationInsightsConnectionString
        }
        {
          name: 'APPLICATIONINSIGHTS_AUTHENTICATION_STRING'
          value: 'ClientId=${identityClientId};Authorization=AAD'
        }
        {
          name: 'FACTORY_BUS'
          value: 'servicebus'
        }
        {
          name: 'FACTORY_STATE'
          value: 'cosmos'
        }
        {
          name: 'FACTORY_ARTIFACTS'
          value: 'blob'
        }
        {
          name: 'FACTORY_TOPIC'
          value: topicName
        }
        {
          name: 'FACTORY_COSMOS_DATABASE'
          value: cosmosDatabaseName
        }
        {
          name: 'FACTORY_ARTIFACTS_CONTAINER'
          value: artifactsContainerName
        }
        {
          name: 'FACTORY_SIGNING_KEY'
          value: '@Microsoft.KeyVault(SecretUri=${signingKeySecretUri})'
        }
        {
          name: 'FACTORY_REQUIRE_SIGNATURE'
          value: 'true'
        }
        {
          // per-handling scratch (release-gate checkouts, scaffold repositories): the package is read-only
          name: 'FACTORY_SCRATCH_DIR'
          value: '/tmp/factory'
        }
        // Telemetry: the Python worker configures the azure-monitor distro before the app is imported
        // (PYTHON_APPLICATIONINSIGHTS_ENABLE_TELEMETRY) and reads its options from these settings only.
        {
          name: 'PYTHON_APPLICATIONINSIGHTS_ENABLE_TELEMETRY'
          value: 'true'
        }
        {
          name: 'PYTHON_APPLICATIONINSIGHTS_LOGGER_NAME'
          value: 'factory'
        }
        {
          name: 'OTEL_TRACES_SAMPLER'
          value: 'microsoft.fixed_percentage'
        }
        {
          name: 'OTEL_TRACES_SAMPLER_ARG'
          value: traceSamplingRatio
        }
        {
          name: 'OTEL_PYTHON_DISABLED_INSTRUMENTATIONS'
          value: 'azure_sdk'
        }
        {
          name: 'FACTORY_TEST_RUNNER'
          value: 'sessions'
        }
        {
          name: 'FACTORY_TEST_SESSIONS_ENDPOINT'
          value: testSessionsEndpoint
        }
        // the model-backed skills: Azure OpenAI called as the app's identity (no key), or none
        {
          name: 'FACTORY_MODEL_PROVIDER'
          value: empty(modelEndpoint) ? 'none' : 'azure-openai'
        }
        {
          name: 'FACTORY_MODEL_ENDPOINT'
          value: modelEndpoint
        }
        {
          name: 'FACTORY_MODEL_DEPLOYMENT'
          value: modelDeployment
        }
        {
          name: 'FACTORY_MODEL_API_VERSION'
          value: modelApiVersion
        }
      ]
    }
  }
}

output name string = app.name
output defaultHostName string = app.properties.defaultHostName
