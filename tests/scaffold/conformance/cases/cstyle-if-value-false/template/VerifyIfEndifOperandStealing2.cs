Hello
    #if (!VALUE == true)
value
    #endif
There