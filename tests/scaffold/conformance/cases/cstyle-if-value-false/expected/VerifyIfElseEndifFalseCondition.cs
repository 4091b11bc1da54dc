Hello
other
There