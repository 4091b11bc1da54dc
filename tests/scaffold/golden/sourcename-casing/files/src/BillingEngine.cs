namespace BillingEngine;
class BillingEngine { string k = "billing-engine"; string s = "billing_engine"; string c = "billingEngine"; string u = "BILLINGENGINE"; string l = "billingengine"; }
