#!/usr/bin/env bash
echo "stage not written yet"
exit 1
