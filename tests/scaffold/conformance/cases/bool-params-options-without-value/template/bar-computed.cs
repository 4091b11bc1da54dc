//computed - 1
#if (A-computed-1)
var A1 = "true";
#else
var A1 = "false";
#endif
#if (B-computed-1)
var B1 = "true";
#else
var B1 = "false";
#endif
#if (C-computed-1)
var C1 = "true";
#else
var C1 = "false";
#endif
#if (D-computed-1)
var D1 = "true";
#else
var D1 = "false";
#endif
//computed - 2
#if (A-computed-2)
var A2 = "true";
#else
var A2 = "false";
#endif
#if (B-computed-2)
var B2 = "true";
#else
var B2 = "false";
#endif
#if (C-computed-2)
var C2 = "true";
#else
var C2 = "false";
#endif
#if (D-computed-2)
var D2 = "true";
#else
var D2 = "false";
#endif
//computed - 3
#if (A-computed-3)
var A3 = "true";
#else
var A3 = "false";
#endif
#if (B-computed-3)
var B3 = "true";
#else
var B3 = "false";
#endif
#if (C-computed-3)
var C3 = "true";
#else
var C3 = "false";
#endif
#if (D-computed-3)
var D3 = "true";
#else
var D3 = "false";
#endif


