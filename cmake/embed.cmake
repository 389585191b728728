# cmake -DIN=FILE -DOUT=HEADER -DNAME=SYMBOL -P embed.cmake
# Writes HEADER declaring `static const unsigned char SYMBOL[]`: the bytes of
# FILE and a terminating NUL, so that ptrun carries FILE within itself.
get_filename_component(name "${IN}" NAME)
file(READ "${IN}" hex HEX)
string(REGEX REPLACE "(..)" "0x\\1," bytes "${hex}")
string(REGEX REPLACE "((0x..,){16})" "\\1\n" bytes "${bytes}")
file(WRITE "${OUT}.tmp"
  "/* Generated from ${name} by cmake/embed.cmake: do not edit. */\n"
  "static const unsigned char ${NAME}[] = {\n${bytes}0x00};\n")
file(RENAME "${OUT}.tmp" "${OUT}")
