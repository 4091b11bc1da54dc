// Operability: alert rules for the three things an operator must act on, and a workbook that shows one
// project's trace. The queries read the span attributes the factory sets (shared/handling/telemetry.py,
// shared/handling/publishing.py): factory.consumer, factory.outcome, factory.flow.to,
// factory.project.outcome, factory.project_id.

@description('Azure region.')
param location string

@description('Tags applied to the resources.')
param tags object = {}

@description('Application Insights component the log alerts and the workbook read.')
param applicationInsightsName string

@description('Service Bus namespace whose dead-letter count is watched.')
param serviceBusNamespaceName string

@description('E-mail address notified when an alert fires; empty: the alerts fire in the portal only.')
param alertEmail string = ''

@description('How often the log alerts run (ISO 8601).')
param evaluationFrequency string = 'PT5M'

@description('The window each log alert run looks at (ISO 8601).')
param windowSize string = 'PT15M'

resource appInsights 'Microsoft.Insights/components@2020-02-02' existing = {
  name: applicationInsightsName
}

resource namespace 'Microsoft.ServiceBus/namespaces@2024-01-01' existing = {
  name: serviceBusNamespaceName
}

resource actionGroup 'Microsoft.Insights/actionGroups@2023-01-01' = if (!empty(alertEmail)) {
  name: 'ag-factory-operators'
  location: 'global'
  tags: tags
  properties: {
    groupShortName: 'factory'
    enabled: true
    emailReceivers: [
      {
        name: 'operators'
        emailAddress: alertEmail
        useCommonAlertSchema: true
      }
    ]
  }
}

var actionGroupIds = empty(alertEmail) ? [] : [
  actionGroup.id
]

// Dead letters > 0: Service Bus dead-lettered a message itself (maxDeliveryCount exceeded, expired).
// `factory dlq list` shows them; `factory dlq resubmit` sends one back.
resource deadLetters 'Microsoft.Insights/metricAlerts@2018-03-01' = {
  name: 'factory-dead-letters'
  location: 'global'
  tags: tags
  properties: {
    description: 'A message is in a dead-letter queue of the factory topic. Inspect with `factory dlq list`.'
    severity: 2
    enabled: true
    scopes: [
      namespace.id
    ]
    evaluationFrequency: 'PT5M'
    windowSize: 'PT5M'
    criteria: {
      'odata.type': 'Microsoft.Azure.Monitor.SingleResourceMultipleMetricCriteria'
      allOf: [
        {
          criterionType: 'StaticThresholdCriterion'
          name: 'deadLettered'
          metricName: 'DeadletteredMessages'
          metricNamespace: 'Microsoft.ServiceBus/namespaces'
          operator: 'GreaterThan'
          threshold: 0
          timeAggregation: 'Maximum'
          dimensions: [
            {
              name: 'EntityName'
              operator: 'Include'
              values: [
                '*'
              ]
            }
          ]
        }
      ]
    }
    actions: [for id in actionGroupIds: {
      actionGroupId: id
    }]
  }
}

// Failed handlings: a handling ended in error (transient, redelivered), failed, or was dead-lettered
// (permanent: recorded in the state store, listed by `factory dlq list`).
resource failedHandlings 'Microsoft.Insights/scheduledQueryRules@2023-03-15-preview' = {
  name: 'factory-failed-handlings'
  location: location
  tags: tags
  properties: {
    displayName: 'factory: failed handlings'
    description: 'Handlings whose outcome is error, failed or dead-lettered, by consumer. Follow the operation id in the project-trace workbook.'
    severity: 2
    enabled: true
    scopes: [
      appInsights.id
    ]
    evaluationFrequency: evaluationFrequency
    windowSize: windowSize
    criteria: {
      allOf: [
        {
          query: 'union requests, dependencies | where isnotempty(customDimensions["factory.consumer"]) | extend outcome = tostring(customDimensions["factory.outcome"]) | where outcome in ("error", "failed", "dead-lettered") | summarize failures = count() by consumer = tostring(customDimensions["factory.consumer"]), outcome'
          timeAggregation: 'Total'
          metricMeasureColumn: 'failures'
          dimensions: [
            {
              name: 'consumer'
              operator: 'Include'
              values: [
                '*'
              ]
            }
          ]
          operator: 'GreaterThan'
          threshold: 0
          failingPeriods: {
            numberOfEvaluationPeriods: 1
            minFailingPeriodsToAlert: 1
          }
        }
      ]
    }
    actions: {
      actionGroups: actionGroupIds
    }
  }
}

// Flow failures: a coordinator moved a flow to a failure state, or a project completed as failed.
resource flowFailures 'Microsoft.Insights/scheduledQueryRules@2023-03-15-preview' = {
  name: 'factory-flow-failures'
  location: location
  tags: tags
  properties: {
    displayName: 'factory: flow failures'
    description: 'A flow reached failed or blocked, or a project completed as failed. `factory status <project>` explains why; `factory flow retry` resumes.'
    severity: 1
    enabled: true
    scopes: [
      appInsights.id
    ]
    evaluationFrequency: evaluationFrequency
    windowSize: windowSize
    criteria: {
      allOf: [
        {
          query: 'dependencies | where name in ("publish CoordinatorStateChanged", "publish ProjectCompleted") | extend flowState = tostring(customDimensions["factory.flow.to"]), projectOutcome = tostring(customDimensions["factory.project.outcome"]) | where flowState in ("failed", "blocked") or projectOutcome == "failed" | summarize failures = count() by project = tostring(customDimensions["factory.project_id"])'
          timeAggregation: 'Total'
          metricMeasureColumn: 'failures'
          dimensions: [
            {
              name: 'project'
              operator: 'Include'
              values: [
                '*'
              ]
            }
          ]
          operator: 'GreaterThan'
          threshold: 0
          failingPeriods: {
            numberOfEvaluationPeriods: 1
            minFailingPeriodsToAlert: 1
          }
        }
      ]
    }
    actions: {
      actionGroups: actionGroupIds
    }
  }
}

// A project's trace as one tree: publishes, handlings and their logs (workbooks/project-trace.workbook.json).
resource projectTrace 'Microsoft.Insights/workbooks@2023-06-01' = {
  name: guid(appInsights.id, 'factory-project-trace')
  location: location
  tags: tags
  kind: 'shared'
  properties: {
    displayName: 'Factory: a project\'s trace'
    category: 'workbook'
    sourceId: appInsights.id
    serializedData: loadTextContent('workbooks/project-trace.workbook.json')
  }
}

output workbookId string = projectTrace.id
output alertRuleNames array = [
  deadLetters.name
  failedHandlings.name
  flowFailures.name
]
