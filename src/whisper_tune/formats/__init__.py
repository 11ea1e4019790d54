"""Binary file formats, one module each: constants, reader and writer side by side."""
