'( A ) syntax
var A = "false";
var B = "false";
var C = "false";
var D = "false";

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
