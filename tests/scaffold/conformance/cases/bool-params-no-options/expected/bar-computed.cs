//computed - 1
var A1 = "false";
var B1 = "false";
var C1 = "true";
var D1 = "true";
//computed - 2
var A2 = "false";
var B2 = "false";
var C2 = "true";
var D2 = "true";
//computed - 3
var A3 = "false";
var B3 = "false";
var C3 = "true";
var D3 = "true";


