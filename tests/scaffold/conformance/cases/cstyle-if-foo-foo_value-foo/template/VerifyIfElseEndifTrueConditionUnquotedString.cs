Hello
    #if (Foo == VALUE)
value
    #else
other
    #endif
There