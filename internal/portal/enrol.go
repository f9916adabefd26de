package portal

func (p *Portal) enrolRoutes(add func(string, string, access, handlerFunc)) {}
