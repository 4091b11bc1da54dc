Hello
    #if (VALUE)
value
    #elif (VALUE2)
other
    #endif
There