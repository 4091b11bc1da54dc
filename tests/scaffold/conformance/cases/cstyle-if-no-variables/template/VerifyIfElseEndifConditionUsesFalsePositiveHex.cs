Hello
    #if (0xChicken == null)
value
    #endif
There