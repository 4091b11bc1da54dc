Hello
    #if (VALUE2 == null)
value
    #endif
There