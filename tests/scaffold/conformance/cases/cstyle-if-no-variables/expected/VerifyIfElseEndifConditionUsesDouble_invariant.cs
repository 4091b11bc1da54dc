Hello
value
There