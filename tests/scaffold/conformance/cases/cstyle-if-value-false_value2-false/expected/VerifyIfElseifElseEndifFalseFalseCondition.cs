Hello
other2
There