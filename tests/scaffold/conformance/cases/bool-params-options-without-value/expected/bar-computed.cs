//computed - 1
var A1 = "true";
var B1 = "true";
var C1 = "true";
var D1 = "false";
//computed - 2
var A2 = "true";
var B2 = "true";
var C2 = "true";
var D2 = "false";
//computed - 3
var A3 = "true";
var B3 = "true";
var C3 = "true";
var D3 = "false";


