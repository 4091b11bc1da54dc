Hello
    #if (VALUE)
value
    #elseif (VALUE2)
other
    #endif
There