"""Colours shared by the tabs' message banners."""

#: level -> (background, text) colour of a message banner: "error" red, "warn" amber, "info" green.
MESSAGE_COLORS: dict[str, tuple[str, str]] = {
    "error": ("#5c1a1b", "#ffd6d6"),
    "warn": ("#4d3800", "#ffe8a3"),
    "info": ("#123524", "#c7f0d8"),
}
