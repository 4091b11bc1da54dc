Dim store = "cosmos"
