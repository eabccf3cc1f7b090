# How a value is named in error messages: strings are quoted, other values
# are named by their type ("an integer", "a list").
value:
let
  type = builtins.typeOf value;
  names = {
    int = "an integer";
    float = "a float";
    bool = "a boolean";
    list = "a list";
    set = if (value.type or null) == "derivation" then "a derivation" else "an attribute set";
    lambda = "a function";
    path = "a path";
    null = "null";
  };
in
if type == "string" then builtins.toJSON value else names.${type} or type
