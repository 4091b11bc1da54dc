set type = "DefaultTrueIncluded"

set type = "DefaultFalseIncluded"
