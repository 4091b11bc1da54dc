'( A ) syntax
'#If( A )    
var A = "true";
'#Else
var A = "false";
'#End If
'#If( B )    
var B = "true";
'#Else
var B = "false";
'#End If
'#If( C )    
var C = "true";
'#Else
var C = "false";
'#End If
'#If( D )    
var D = "true";
'#Else
var D = "false";
'#End If

'( A == true) syntax
'#If( A == true)    
var A = "true";
'#Else
var A = "false";
'#End If
'#If( B == true)    
var B = "true";
'#Else
var B = "false";
'#End If
'#If( C == true)    
var C = "true";
'#Else
var C = "false";
'#End If
'#If( D == true)    
var D = "true";
'#Else
var D = "false";
'#End If

'( A == "true") syntax
'#If( A == "true")    
var A = "true";
'#Else
var A = "false";
'#End If
'#If( B == "true")    
var B = "true";
'#Else
var B = "false";
'#End If
'#If( C == "true")    
var C = "true";
'#Else
var C = "false";
'#End If
'#If( D == "true")    
var D = "true";
'#Else
var D = "false";
'#End If
