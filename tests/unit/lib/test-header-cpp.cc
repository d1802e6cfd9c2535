// anycgi.h compiles as C++ on its own, and its calls link from C++.
#include "anycgi.h"

#include <cstdio>
#include <cstring>

int main()
{
	if (std::strcmp(acgi_version(), ACGI_VERSION_STRING) != 0) {
		std::puts("version mismatch");
		return 1;
	}
	std::puts("1 passed, 0 failed");
	return 0;
}
