mod observations;
