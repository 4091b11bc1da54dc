Hello
    #if (VALUE == 2)
value
    #endif
There