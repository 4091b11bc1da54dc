namespace Billing_Engine;
class Billing_Engine { string l = "billing_engine"; string kept = "sample-app"; }
