Hello
    #if (VALUE < 3 && VALUE > 0)
value
    #endif
There