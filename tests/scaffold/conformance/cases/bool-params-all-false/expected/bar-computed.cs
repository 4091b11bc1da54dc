//computed - 1
var A1 = "false";
var B1 = "false";
var C1 = "false";
var D1 = "false";
//computed - 2
var A2 = "false";
var B2 = "false";
var C2 = "false";
var D2 = "false";
//computed - 3
var A3 = "false";
var B3 = "false";
var C3 = "false";
var D3 = "false";


