'( A ) syntax
var A = "true";
var B = "true";
var C = "true";
var D = "true";

'( A == true) syntax
var A = "false";
var B = "false";
var C = "false";
var D = "false";

'( A == "true") syntax
var A = "false";
var B = "false";
var C = "false";
var D = "false";
