Hello
    #if (VALUE > 3)
value
    #endif
There