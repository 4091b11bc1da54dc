Hello
    #if (VALUE)
value
    #elseif (VALUE2)
other
    #else
other2
    #endif
There