Hello
    #if (!false)
value
    #endif
There