Hello
    #if
value
    #endif
There