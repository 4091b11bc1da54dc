Hello
    #if (VALUE >> 1 == 2)
value
    #endif
There