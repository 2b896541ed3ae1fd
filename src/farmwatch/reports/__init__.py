"""Reports for extension officers: monthly farm reports and the pieces they are built from."""
